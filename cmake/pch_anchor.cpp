// Anchor unit for the shared precompiled header target (scorch_pch); holds no code.
