"""The numpy maths: activations, the cells' recursions and their BPTT (textbook.py
one line per formula; vanilla.py, lstm.py, gru.py the fast path), losses, the
network (cell + linear read-out + loss), finite differences to check gradients
against. No files, no plugins."""
