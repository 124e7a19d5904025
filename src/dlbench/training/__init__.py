"""Initializers, learning-rate schedules, regularizers that act in the loss, the perceptron rule."""
