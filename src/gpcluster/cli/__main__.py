from gpcluster.cli import main

main()
