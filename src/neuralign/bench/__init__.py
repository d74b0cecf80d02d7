"""neuralign.bench"""
