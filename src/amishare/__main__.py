from amishare.cli.main import main

main()
