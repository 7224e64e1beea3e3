"""The numpy maths: activations, the built-in cells and their BPTT (textbook.py
one line per formula; vanilla.py, lstm.py, gru.py each a whole cell, its class
and the fast path), losses, the network (cell + linear read-out + loss), finite
differences to check gradients against. No files; the plugins in
rnnbench_plugins only register the cells defined here."""
