import random, time, math
# A synthetic day and 3 hours ahead of py2 (9 req/s) and py3 (1 req/s) counters and latency
# buckets every 5 s, as OpenMetrics: `python3 gen.py && promtool tsdb create-blocks-from openmetrics data.om tsdb`.
r=random.Random(7)
now=int(time.time()); start=now-25*3600; end=now+3*3600; step=5
les=["0.005","0.01","0.025","0.05","0.075","0.1","0.25","0.5","0.75","1.0","2.5","5.0","7.5","10.0","+Inf"]
cum=[0.3,0.5,0.7,0.8,0.85,0.9,0.97,0.99,0.995,0.998,0.999,0.9995,0.9998,0.9999,1.0]
out=open('data.om','w'); REQ=[]; BUCK=[]
for ver,rate in (("py2",9.0),("py3",1.0)):
    ok=fail=0.0; b=[0.0]*len(les); lines_req=[]; lines_b=[[] for _ in les]
    t=start
    while t<=end:
        n=rate*step; f=sum(1 for _ in range(int(n)) if r.random()<0.001)
        okn=int(n)-f; ok+=okn; fail+=f
        for i,c in enumerate(cum): b[i]+=int(n)*c
        lines_req.append((t,ok,fail))
        for i in range(len(les)): lines_b[i].append((t,round(b[i])))
        t+=step
    REQ.append((ver,lines_req)); BUCK.append((ver,lines_b))
for ver,lines_req in REQ:
    for status,idx in (("200",1),("500",2)):
        for (t,o,fl) in lines_req:
            out.write('http_requests_total{version="%s",service="web",status="%s"} %d %d\n'%(ver,status,(o if idx==1 else fl),t))
for ver,lines_b in BUCK:
    for i,le in enumerate(les):
        for (t,v) in lines_b[i]:
            out.write('http_request_duration_seconds_bucket{version="%s",service="web",le="%s"} %d %d\n'%(ver,le,v,t))
out.write('# EOF\n')
