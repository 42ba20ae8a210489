"""Wire protocols, free of Django: plain pytest can load every module here."""
