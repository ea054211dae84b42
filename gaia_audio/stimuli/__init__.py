"""What a lab receives: a continuum folder (WAVs, the manifest read and written by one module,
provenance.json, the listening page) and the rules for where one may be written."""
