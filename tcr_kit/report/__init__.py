"""The public report: a static site, its Atom/JSON feed of signed heads, the ten-year
discrepancy charts and printable PDF forms (issue 13)."""
