"""bitstream"""
