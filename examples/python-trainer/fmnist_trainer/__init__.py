"""An example of a user's own training code run by nas as a Python trainer:
`fmnist_trainer.train:evaluate` trains a candidate network on Fashion-MNIST
and returns its validation accuracy (see examples/python-trainer/README.md)."""
