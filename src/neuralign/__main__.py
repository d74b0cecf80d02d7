"""``python -m neuralign``: the ``neuralign`` command line, also as a module, so that torchrun can start it
(``torchrun --nproc-per-node 2 -m neuralign fit ...``)."""

from neuralign.cli import app

if __name__ == "__main__":
    app(prog_name="neuralign")
