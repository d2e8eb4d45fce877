"""Synthetic full-leg radiographs with exact ground truth."""
