"""The gaia-audio command line (click); the group is :func:`gaia_audio.cli.main.main`."""
