module haproxy-edge/demo-backend

go 1.22
