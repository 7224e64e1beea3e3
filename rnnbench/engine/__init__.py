"""The numpy maths: activations, the vanilla recursion and its BPTT, losses,
the network (cell + linear read-out + loss), gradient checking. No files, no plugins."""
