"""Loopback servers for tests, benchmarks and your own CI: nothing here is used by the pipeline itself.

- ``dataagent.testing.openai``: an OpenAI-compatible chat server with scripted answers and faults;
- ``dataagent.testing.hub``: a Hugging Face Hub that ``huggingface_hub`` and ``datasets`` can push to;
- ``dataagent.testing.sites``: small web sites with a request log, for crawler tests;
- ``dataagent.testing.loopback``: the one start/stop lifecycle the ASGI servers above share.

The OpenAI and Hub servers run on uvicorn/Starlette: ``pip install 'dataagent[testing]'``.
Submodules are not imported here, so ``sites`` works without that extra.
"""
