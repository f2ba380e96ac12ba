"""Where bytes live and what they hash to: files inside the release, hashing and its cache, git for the code and for checkpoint branches, remote references."""
