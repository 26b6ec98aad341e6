SELECT 1 --/*
