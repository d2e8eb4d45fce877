"""Pure core: landmark schema, metrics, image I/O, case files and the training-set store (no Qt, no torch)."""
