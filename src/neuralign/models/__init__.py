"""neuralign.models"""
