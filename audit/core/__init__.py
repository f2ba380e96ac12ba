"""The core: the Auditor, the Release the checks read, shards and merge, the gate policy, progress."""
