package dq
import ("context";"testing";"os";"github.com/tandem-data/tandem/duckdb")
func TestQ(t *testing.T){
 w,err:=duckdb.Open(t.TempDir()+"/x.duckdb",duckdb.Options{}); if err!=nil{t.Fatal(err)}
 for _,q:=range []string{os.Getenv("Q1"),os.Getenv("Q2"),os.Getenv("Q3"),os.Getenv("Q4")}{ if q==""{continue}
  r,err:=w.Query(context.Background(),q,10); if err!=nil{t.Log(q," => ERR ",err)}else{t.Log(q," => ",r.Rows)}}
}
