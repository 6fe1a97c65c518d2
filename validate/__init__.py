"""Record contracts, the quality gate, quarantine, reports and publishing.

Every stage imports its record contracts from here; nothing here imports a stage.
"""
