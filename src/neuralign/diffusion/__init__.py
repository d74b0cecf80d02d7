"""neuralign.diffusion"""
