"""Datasets as in-memory uint8 tensors with deterministic splits (see module.ImageDataModule)."""
