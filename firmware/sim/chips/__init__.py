# Register-level models of the kit's sensor chips and analog front ends.
