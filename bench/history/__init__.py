"""Result history: an SQLite index of every result document, series per machine and cell, change points."""
