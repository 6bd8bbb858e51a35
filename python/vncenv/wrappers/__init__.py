"""Gymnasium wrappers for vncenv envs: action adaptors, vision, logging, recording."""
