"""neuralign.metrics"""
