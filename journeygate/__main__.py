from journeygate.cli import main

main()
