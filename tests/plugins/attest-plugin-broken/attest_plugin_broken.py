NOT_A_COMMAND = "just a string"
