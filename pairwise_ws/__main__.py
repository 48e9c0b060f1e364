from pairwise_ws.cli import main

main()
