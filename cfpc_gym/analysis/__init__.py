"""Analyses beyond the trial loop: the least-squares and Gauss-Newton optima of a basis
(``optimum``), the real loop's response to each weight (``responses``), force-field reaching
(``reaching``) and eyeblink conditioning (``conditioning``) measures, and the script that
reproduces the classic paradigms (``paradigms``). The library face never imports them.
"""
