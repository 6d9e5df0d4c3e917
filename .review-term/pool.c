#include <stdio.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_errno.h>
int main(void){
 char *argv[]={"p","--no-huge","--no-shconf","--no-pci","-m","128","--log-level=error","--file-prefix=review-pool",NULL};
 if(rte_eal_init(8,argv)<0) return 1;
 for(unsigned n=1;n<=13;n++){
  char name[32]; snprintf(name,sizeof name,"tm_%u",n);
  struct rte_mempool*p=rte_pktmbuf_pool_create(name,32*n,256,0,RTE_PKTMBUF_HEADROOM+2048,SOCKET_ID_ANY);
  printf("terminated_connections=%u mbufs=%u -> %s\n",n,32*n,p?"ok":rte_strerror(rte_errno));
 }
 return 0;}
