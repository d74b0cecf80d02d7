"""neuralign.align"""
