"""The predicate types attest writes and the gate reads (predicates.py); the statement that
carries them is verify/formats/statement.py."""
