"""alignment: view-invariant frame embeddings (DeiT + TCN) with baseline, PAAB or PAAT, scored by alignment error."""
