"""Statistical evidence from the weights and the data alone, for segments that cannot be replayed exactly
(weights-only releases such as Amber and Pythia): the order test (audit.forensics.order), the palimpsest
correlation and the Analysis360 memorization score (audit.forensics.memory). No CLI, no rendering here."""
