"""Test support shared by every test package: fixtures for real PostgreSQL, Mosquitto and Modbus."""
