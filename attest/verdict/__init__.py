"""The gate's verdict, carried beyond the deploy host: VSAs of its decisions (`attest vsa`) and
anchors of its decision log in the transparency log (`attest log anchor`)."""
