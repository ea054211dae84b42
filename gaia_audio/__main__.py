from gaia_audio.cli import main

main()
