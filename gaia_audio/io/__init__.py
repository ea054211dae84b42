"""Files in and out: audio, the one atomic write, hashes, CSV manifests, figures."""
