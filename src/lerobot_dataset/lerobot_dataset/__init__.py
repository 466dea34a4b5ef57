"""LeRobot v3.0 datasets (Parquet + MP4): writer, reader, stats and validation. Pure Python, no ROS."""
