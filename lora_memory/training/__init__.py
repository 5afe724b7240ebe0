"""Meta-training: data generators and recipes."""
