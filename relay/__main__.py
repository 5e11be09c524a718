from relay.cli.commands import main

main()
