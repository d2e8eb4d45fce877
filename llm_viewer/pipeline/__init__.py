"""Models and inference: image array in, landmarks out (torch, no Qt)."""
