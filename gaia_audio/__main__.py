from gaia_audio.cli.main import main

main()
