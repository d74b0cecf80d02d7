"""neuralign.plot"""
