from dataagent.cli import main

main()
