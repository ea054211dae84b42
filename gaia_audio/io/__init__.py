"""Files and audio only: audio load/save/resample/levels/ramps, input checks, the one atomic write
(safe under signals: signals.py), hashes, CSV text, and dataset manifests."""
